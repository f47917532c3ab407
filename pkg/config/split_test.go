package config

import (
	"reflect"
	"testing"
)

func TestSplitCmdline(t *testing.T) {
	// The cases of dracut's TEST-80-GETARG, which mirror next_arg().
	in := `key1=0 key2=val key2=val2 key3="  val  3  " "  key 4  ="val4 "key  5=val  5" "key 6=""val  6" key7="foo"bar" baz="end "  key8  =  val 8  "` + "\n" + `"key 9"="val 9" "`
	args, rest, _ := splitCmdline(in, "t")
	want := []arg{
		{Key: "key1", Value: "0", HasValue: true},
		{Key: "key2", Value: "val", HasValue: true},
		{Key: "key2", Value: "val2", HasValue: true},
		{Key: "key3", Value: "  val  3  ", HasValue: true},
		{Key: "  key 4  ", Value: "val4", HasValue: true},
		{Key: "key  5", Value: "val  5", HasValue: true},
		{Key: "key 6", Value: `"val  6`, HasValue: true},
		{Key: "key7", Value: `foo"bar" baz="end`, HasValue: true},
		{Key: "  key8  ", Value: "  val 8  ", HasValue: true},
		{Key: `key 9"`, Value: "val 9", HasValue: true},
	}
	for i := range want {
		want[i].Source = "t"
	}
	if !reflect.DeepEqual(args, want) {
		t.Errorf("splitCmdline:\n got %q\nwant %q", args, want)
	}
	if rest != nil {
		t.Errorf("rest = %q, want none", rest)
	}
}

func TestSplitCmdlineDashes(t *testing.T) {
	args, rest, saw := splitCmdline(`ro root=LABEL=x -- single "a b" k=v`, "p")
	if !saw || len(args) != 2 || !reflect.DeepEqual(rest, []string{"single", "a b", "k=v"}) {
		t.Errorf("got args %v rest %q saw %v", args, rest, saw)
	}
}

func TestSourceLines(t *testing.T) {
	got := sourceLines("# comment\nrd.retry=5\n  # indented comment\nrd.shell=0\n")
	args, _, _ := splitCmdline(got, "f")
	if len(args) != 2 || args[0].String() != "rd.retry=5" || args[1].String() != "rd.shell=0" {
		t.Errorf("got %v", args)
	}
}
