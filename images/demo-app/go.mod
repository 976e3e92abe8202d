module containerdaylabs.local/demo-app

go 1.25
