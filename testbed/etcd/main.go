// Command etcd is the etcd server of the Hive test bed: the upstream entry point, built from the
// pinned Go module so the bed never depends on a prebuilt binary or on Debian's older etcd.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
