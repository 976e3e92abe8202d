#!/usr/bin/env bash
# The expose step of first-deployment, written as a shell check: it passes
# when the Service hello takes TCP port 80 and sends it to port 80 (where
# nginx listens) of ready pods of the Deployment hello. Whether targetPort
# is left out, a number or the name of a container port, the Service's
# EndpointSlices say which port of the pods it resolved to, as kube-proxy
# reads it, so the script asks them rather than parse targetPort itself.
set -u

# The Service, the labels of hello's pods and the Service's EndpointSlices,
# in one request (each kubectl costs a start of its own). The EndpointSlices
# appear a moment after the Service: one line per slice, its ports
# (name:number) before the bar, its ready pods after it.
read_objects() {
  kubectl get services,deployments,endpointslices -o go-template='{{range .items}}{{if and (eq .kind "Service") (eq .metadata.name "hello")}}service {{or .spec.type "ClusterIP"}} {{or .spec.clusterIP "-"}}
{{range .spec.ports}}port {{.port}} {{or .protocol "TCP"}} {{or .name "-"}}
{{end}}{{range $k, $v := .spec.selector}}selector {{$k}}={{$v}}
{{end}}{{else if and (eq .kind "Deployment") (eq .metadata.name "hello")}}deployment
{{range $k, $v := .spec.template.metadata.labels}}label {{$k}}={{$v}}
{{end}}{{else if and (eq .kind "EndpointSlice") (eq (or (index .metadata.labels "kubernetes.io/service-name") "") "hello")}}slice{{range .ports}} {{or .name "-"}}:{{.port}}{{end}} |{{range .endpoints}}{{if .conditions.ready}} {{or .targetRef.name "?"}}{{end}}{{end}}
{{end}}{{end}}' 2>/dev/null
}
objects=$(read_objects)

if ! grep -q '^service ' <<<"$objects"; then
  echo "There is no Service hello in your namespace yet."
  exit 1
fi
read -r _ type cluster_ip < <(grep '^service ' <<<"$objects")
if [ "$type" = ExternalName ]; then
  echo "The Service hello is of type ExternalName: it names a DNS name, not the pods of hello."
  exit 1
fi
ports=$(grep '^port ' <<<"$objects" | awk '{print $2 "/" $3}' | paste -sd, -)
port_name=$(awk '$1 == "port" && $2 == 80 && $3 == "TCP" {print $4; exit}' <<<"$objects")
if [ -z "$port_name" ]; then
  echo "The Service hello listens on ${ports:-no port}, not 80/TCP."
  exit 1
fi
if [ "$cluster_ip" = None ]; then
  echo "The Service hello is headless (clusterIP: None): it gives no stable address of its own, only the addresses of the pods."
  exit 1
fi
selector=$(grep '^selector ' <<<"$objects" | cut -d' ' -f2-)
if [ -z "$selector" ]; then
  echo "The Service hello has no selector, so it selects no pods: Kubernetes sends it nowhere."
  exit 1
fi
if grep -q '^deployment' <<<"$objects"; then
  labels=$(grep '^label ' <<<"$objects" | cut -d' ' -f2-)
  for pair in $selector; do
    if ! grep -qxF "$pair" <<<"$labels"; then
      echo "The Service hello selects no pods of hello: its selector $pair is not a label of the pods of hello; compare its selector with their labels."
      exit 1
    fi
  done
fi

# A Service that looks right but has no ready endpoints yet is asked again, for a moment.
for _ in 1 2 3 4 5 6 7 8 9 10; do
  grep -q '^slice .*| [^ ]' <<<"$objects" && break
  sleep 0.3
  objects=$(read_objects)
done
slices=$(grep '^slice' <<<"$objects" | sed 's/^slice//')
ready=0
targets=()
while IFS='|' read -r head pods; do
  count=$(wc -w <<<"$pods")
  [ "$count" -gt 0 ] || continue
  target=$(tr ' ' '\n' <<<"$head" | awk -F: -v name="$port_name" '$1 == name {print $2; exit}')
  targets+=("${target:-none}")
  [ "$target" = 80 ] && ready=$((ready + count))
done <<<"$slices"
if [ "${#targets[@]}" -eq 0 ]; then
  echo "The Service hello selects no pods: compare its selector with the labels of the pods of hello."
  exit 1
fi
if [ "$ready" -eq 0 ]; then
  wrong=$(printf '%s\n' "${targets[@]}" | sort -u | paste -sd, -)
  if [ "$wrong" = none ]; then
    echo "The Service hello's targetPort names no port of the containers of hello, so port 80 leads nowhere."
  else
    echo "The Service hello sends port 80 to port $wrong of the pods (its targetPort), but nginx listens on 80."
  fi
  exit 1
fi
echo "The Service hello sends port 80 to port 80 of $ready ready pods of hello."
