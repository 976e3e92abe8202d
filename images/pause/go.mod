module containerdaylabs.local/pause

go 1.25
