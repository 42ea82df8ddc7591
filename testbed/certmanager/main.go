// Command cert-manager-controller is cert-manager's controller for the Hive test bed, built from
// the published github.com/cert-manager/cert-manager module. Upstream's own entry point
// (cmd/controller, module path .../controller-binary) is not fetchable from the Go module proxy,
// so this main wires the same pieces the upstream app does: the controller ContextFactory, the
// registered control loops for Certificates, CertificateRequests (approver, CA and SelfSigned
// signers), Issuers and ClusterIssuers, and optional Lease leader election. ACME, Vault, Venafi,
// the ingress/gateway shims, the webhook and cainjector are not included.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sync/errgroup"
	"k8s.io/client-go/tools/leaderelection"
	"k8s.io/client-go/tools/leaderelection/resourcelock"
	"k8s.io/klog/v2"

	"github.com/cert-manager/cert-manager/pkg/controller"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/approver"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/ca"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificaterequests/selfsigned"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/issuing"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/keymanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/readiness"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/requestmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/revisionmanager"
	_ "github.com/cert-manager/cert-manager/pkg/controller/certificates/trigger"
	"github.com/cert-manager/cert-manager/pkg/controller/clusterissuers"
	_ "github.com/cert-manager/cert-manager/pkg/controller/issuers"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/ca"
	_ "github.com/cert-manager/cert-manager/pkg/issuer/selfsigned"
	logf "github.com/cert-manager/cert-manager/pkg/logs"
)

func main() {
	kubeconfig := flag.String("kubeconfig", "", "kubeconfig of the identity the controller acts as")
	namespace := flag.String("namespace", "", "watch only this namespace (default: all; ClusterIssuers need all)")
	clusterResourceNamespace := flag.String("cluster-resource-namespace", "kube-system",
		"namespace holding the Secrets that ClusterIssuers refer to")
	leaderElect := flag.Bool("leader-elect", false, "hold a Lease before running the control loops")
	leaderElectionNamespace := flag.String("leader-election-namespace", "kube-system", "namespace of the Lease")
	workers := flag.Int("workers", 5, "workers per control loop")
	minBackoff := flag.Duration("certificate-request-minimum-backoff-duration", time.Hour,
		"first back-off after a failed issuance (upstream default)")
	maxBackoff := flag.Duration("certificate-request-maximum-backoff-duration", 32*time.Hour,
		"longest back-off after repeated failed issuances (upstream default)")
	klog.InitFlags(nil)
	flag.Parse()

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	ctx = logf.NewContext(ctx, klog.Background(), "cert-manager")
	if err := run(ctx, options{
		kubeconfig: *kubeconfig, namespace: *namespace, clusterResourceNamespace: *clusterResourceNamespace,
		leaderElect: *leaderElect, leaderElectionNamespace: *leaderElectionNamespace, workers: *workers,
		minBackoff: *minBackoff, maxBackoff: *maxBackoff,
	}); err != nil {
		fmt.Fprintln(os.Stderr, "cert-manager-controller:", err)
		klog.Flush()
		os.Exit(1)
	}
	klog.Flush()
}

type options struct {
	kubeconfig, namespace, clusterResourceNamespace, leaderElectionNamespace string
	leaderElect                                                              bool
	workers                                                                  int
	minBackoff, maxBackoff                                                   time.Duration
}

func run(ctx context.Context, opts options) error {
	log := logf.FromContext(ctx)
	factory, err := controller.NewContextFactory(ctx, controller.ContextOptions{
		Kubeconfig: opts.kubeconfig,
		Namespace:  opts.namespace,
		IssuerOptions: controller.IssuerOptions{
			ClusterResourceNamespace: opts.clusterResourceNamespace,
		},
		CertificateOptions: controller.CertificateOptions{
			CertificateRequestMinimumBackoffDuration: opts.minBackoff,
			CertificateRequestMaximumBackoffDuration: opts.maxBackoff,
		},
	})
	if err != nil {
		return fmt.Errorf("building the controller context: %w", err)
	}
	base, err := factory.Build()
	if err != nil {
		return err
	}
	if opts.leaderElect {
		released, err := awaitLeadership(ctx, factory, opts.leaderElectionNamespace)
		if err != nil {
			return err
		}
		// On shutdown the elector gives the Lease up (ReleaseOnCancel); wait for that before exiting
		// so a successor need not wait for the Lease to expire.
		defer func() {
			select {
			case <-released:
			case <-time.After(5 * time.Second):
			}
		}()
		if ctx.Err() != nil {
			return nil
		}
	}
	names := make([]string, 0, len(controller.Known()))
	for name := range controller.Known() {
		if opts.namespace != "" && name == clusterissuers.ControllerName {
			continue // ClusterIssuers are cluster-scoped: not served when scoped to one namespace
		}
		names = append(names, name)
	}
	sort.Strings(names)
	log.Info("starting control loops", "controllers", strings.Join(names, ","))
	group, groupCtx := errgroup.WithContext(ctx)
	for _, name := range names {
		loop, err := controller.Known()[name](factory)
		if err != nil {
			return fmt.Errorf("constructing controller %s: %w", name, err)
		}
		group.Go(func() error { return loop.Run(opts.workers, groupCtx) })
	}
	base.SharedInformerFactory.Start(groupCtx.Done())
	base.KubeSharedInformerFactory.Start(groupCtx.Done())
	base.HTTP01ResourceMetadataInformersFactory.Start(groupCtx.Done())
	err = group.Wait()
	base.HTTP01ResourceMetadataInformersFactory.Shutdown()
	base.KubeSharedInformerFactory.Shutdown()
	base.SharedInformerFactory.Shutdown()
	if err != nil && !errors.Is(err, context.Canceled) {
		return err
	}
	log.Info("control loops exited")
	return nil
}

// awaitLeadership blocks until this process holds the Lease (or ctx ends); losing it later ends the
// process, as upstream does, so two controllers never issue for the same Certificate at once. The
// returned channel is closed once the elector has stopped (after releasing the Lease when ctx ends).
func awaitLeadership(ctx context.Context, factory *controller.ContextFactory, namespace string) (<-chan struct{}, error) {
	le, err := factory.Build("leader-election")
	if err != nil {
		return nil, err
	}
	host, err := os.Hostname()
	if err != nil {
		return nil, err
	}
	lock, err := resourcelock.New(resourcelock.LeasesResourceLock, namespace, "cert-manager-controller",
		le.Client.CoreV1(), le.Client.CoordinationV1(),
		resourcelock.ResourceLockConfig{Identity: fmt.Sprintf("%s-%d", host, os.Getpid()), EventRecorder: le.Recorder})
	if err != nil {
		return nil, err
	}
	elected := make(chan struct{})
	elector, err := leaderelection.NewLeaderElector(leaderelection.LeaderElectionConfig{
		Lock: lock, LeaseDuration: 15 * time.Second, RenewDeadline: 10 * time.Second, RetryPeriod: 2 * time.Second,
		ReleaseOnCancel: true,
		Callbacks: leaderelection.LeaderCallbacks{
			OnStartedLeading: func(context.Context) { close(elected) },
			OnStoppedLeading: func() {
				if ctx.Err() == nil {
					fmt.Fprintln(os.Stderr, "cert-manager-controller: leader election lost")
					os.Exit(1)
				}
			},
		},
	})
	if err != nil {
		return nil, err
	}
	released := make(chan struct{})
	go func() {
		defer close(released)
		elector.Run(ctx)
	}()
	select {
	case <-elected:
	case <-ctx.Done():
	}
	return released, nil
}
