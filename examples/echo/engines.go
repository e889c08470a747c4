package main

import (
	"fmt"
	"slices"
	"strings"

	"github.com/framelink/framelink"
)

// startFunc starts an echo server on addr (TCP) and returns once it is
// listening.
type startFunc func(addr string, o framelink.Options) (framelink.Server, error)

// engines holds the engines compiled in; engine_*.go files register them
// from init.
var engines = map[string]startFunc{}

// knownEngines are every engine name the project defines, compiled in or
// not, for error messages.
var knownEngines = []string{"netstd", "netpoll", "gnet"}

func register(name string, f startFunc) { engines[name] = f }

func engineNames() string {
	names := make([]string, 0, len(engines))
	for n := range engines {
		names = append(names, n)
	}
	slices.Sort(names)
	return strings.Join(names, ", ")
}

func lookupEngine(name string) (startFunc, error) {
	if f, ok := engines[name]; ok {
		return f, nil
	}
	if slices.Contains(knownEngines, name) {
		return nil, fmt.Errorf("engine %q is not available in this build (available: %s)", name, engineNames())
	}
	return nil, fmt.Errorf("unknown engine %q (available: %s)", name, engineNames())
}
