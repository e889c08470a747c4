package reliability

import "github.com/framelink/framelink/transport/memory"

func init() { register(&engine{name: "memory", pipe: memory.Pipe}) }
