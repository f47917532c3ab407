package bond

import "github.com/netroot/netroot/pkg/sysfs"

// SetActive makes slave the active slave of bond name (sysfs
// active_slave, which takes the slave's name).
func SetActive(name, slave string) error {
	return setByName(name, map[string]string{"active_slave": slave})
}

// NewFailover returns the Failover of bond name, over this machine's
// sysfs.
func NewFailover(name string) *Failover {
	return &Failover{
		Bond:      name,
		Ports:     func() (string, []Port, error) { return ReadPorts(sysfs.Sys.ReadTrim, name) },
		SetActive: func(slave string) error { return SetActive(name, slave) },
	}
}
