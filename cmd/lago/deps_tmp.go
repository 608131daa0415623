package main
import (
 _ "github.com/BurntSushi/toml"
 _ "github.com/rs/zerolog"
 _ "gonum.org/v1/plot"
)
func main(){}
