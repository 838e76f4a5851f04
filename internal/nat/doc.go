// Package nat is what every way of running an IOS NAT model shares: the
// state the show commands print (Translation, Statistics). The model itself
// is package ios; the userspace datapath is package forward.
package nat
