// Command etcd is etcd's own server (go.etcd.io/etcd/server/v3/etcdmain) as
// its upstream main package runs it; hack/platform.sh builds it.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() { etcdmain.Main(os.Args) }
