package main

import (
	"errors"
	"testing"
)

func TestDistinctErrors(t *testing.T) {
	a, b := errors.New("a"), errors.New("b")
	got := distinct([]error{nil, a, errors.New("a"), b, nil, a})
	if len(got) != 2 || got[0] != a || got[1] != b {
		t.Errorf("distinct = %v, want [a b]", got)
	}
	if distinct([]error{nil, nil}) != nil {
		t.Errorf("distinct of nils is not empty")
	}
}
