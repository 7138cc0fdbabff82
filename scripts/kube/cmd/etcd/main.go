// Command etcd is etcd's server entry point, built from the go.etcd.io/etcd/server/v3 module
// (the module proxy serves the server library; the etcd command itself lives in etcd's root
// module, which pulls in etcdctl and etcdutl too).
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
