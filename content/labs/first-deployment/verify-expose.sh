#!/usr/bin/env bash
# The expose step of first-deployment, written as a shell check: it passes
# when the Service hello sends port 80 to ready pods of the Deployment hello.
set -u

if ! port=$(kubectl get service hello -o jsonpath='{.spec.ports[0].port}' 2>/dev/null); then
  echo "There is no Service hello in your namespace yet."
  exit 1
fi
if [ "$port" != 80 ]; then
  echo "The Service hello listens on port $port, not 80."
  exit 1
fi

# The Service's endpoints appear a moment after it is created.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  addresses=$(kubectl get endpointslices -l kubernetes.io/service-name=hello \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.addresses[0]} {end}' 2>/dev/null)
  [ -n "$addresses" ] && break
  sleep 0.3
done
if [ -z "$addresses" ]; then
  echo "The Service hello selects no pods: compare its selector with the labels of the pods of hello."
  exit 1
fi
echo "The Service hello sends port 80 to $(wc -w <<<"$addresses") ready pods of hello."
