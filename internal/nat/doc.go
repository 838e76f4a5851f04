// Package nat is what every way of running an IOS NAT model shares: the
// Datapath interface the gateway process drives, the Program a datapath
// compiles from the model, the PlanLine listing of a program, and the state
// the show commands print (Translation, Statistics).
//
// The model is package ios: Parse checks syntax and references, so a model
// is what IOS would accept. Each datapath then checks what it can run of it
// in its Compile: forward (the userspace forwarder) needs destinations it
// can listen on port by port; a kernel datapath or a rules renderer would
// have its own limits. This package imports no datapath.
package nat
