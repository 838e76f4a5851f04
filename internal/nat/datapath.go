package nat

import (
	"context"

	"github.com/rotary-ftp/rotary/internal/nat/ios"
)

// Datapath runs an IOS NAT model: the userspace forwarder today (package
// forward), the kernel (nftables) later. The gateway process drives it:
// Compile at start and on every reload, Start once, Reload with each new
// Program, Shutdown on stop. The show commands read Translations and
// Statistics.
type Datapath interface {
	// Name is what --print-plan and the logs call the datapath: "userspace".
	Name() string
	// Compile checks what of cfg this datapath can run (an *ios.Error
	// naming file:line:column otherwise) and returns what it will run. It
	// opens nothing, so a configuration can be checked while another runs.
	Compile(cfg *ios.Config) (Program, error)
	// Start runs a Program this datapath compiled. When it cannot (an
	// outside port in use), nothing is left running and the error says why.
	Start(Program) error
	// Reload replaces the running program; established flows continue.
	// When it fails, the running program stays in force.
	Reload(Program) error
	// Shutdown stops taking new connections, then waits for the flows to
	// end until ctx is done, when it closes the rest.
	Shutdown(ctx context.Context) error
	// Close stops at once: listeners and flows are closed.
	Close() error
	Translations() []Translation
	Statistics() Statistics
}

// Program is a configuration compiled by one Datapath, which alone can run
// it. Plan lists it for --print-plan and the gateway's start log.
type Program interface {
	Plan() []PlanLine
	// Warnings are statements of the configuration that have no effect
	// on this datapath (a rule whose list denies every destination).
	Warnings() []ios.Warning
}
