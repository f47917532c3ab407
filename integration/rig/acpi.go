package rig

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
)

// WriteACPITables writes each raw ACPI table (e.g. from ibft.Marshal) to
// dir/acpi-<i>.bin and returns the paths, for VMConfig.ACPITables.
func WriteACPITables(dir string, tables [][]byte) ([]string, error) {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, err
	}
	var paths []string
	for i, t := range tables {
		p := filepath.Join(dir, fmt.Sprintf("acpi-%d.bin", i))
		if err := os.WriteFile(p, t, 0o644); err != nil {
			return nil, fmt.Errorf("rig: ACPI table: %w", err)
		}
		paths = append(paths, p)
	}
	return paths, nil
}

// acpiTableArgs returns QEMU's -acpitable arguments for files. With file=
// QEMU takes the whole table, header included; it keeps the header's
// fields but rewrites the length (warning when it differs) and the
// checksum, so a bad checksum cannot reach the guest this way. It splits
// file= at ':' and options at ',', which paths must not hold.
func acpiTableArgs(files []string) ([]string, error) {
	var args []string
	for _, f := range files {
		if strings.ContainsAny(f, ":,") {
			return nil, fmt.Errorf("rig: ACPI table path %q: QEMU's -acpitable cannot take ':' or ','", f)
		}
		args = append(args, "-acpitable", "file="+f)
	}
	return args, nil
}
