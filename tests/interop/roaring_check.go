// roaring_check: reads a list exported by `optout export --format roaring` with Go's Roaring
// library (an implementation independent of CRoaring) and checks it against the same list
// exported as text (one 10-digit NHS number per line, ascending).
//
//	roaring_check -roaring LIST.roaring -text LIST.txt [-want-containers array,bitmap,run]
//
// The bitmap holds stems: an NHS number without its check digit, number / 10. Each text line must
// be a valid NHS number (modulus 11, checked here independently of optout) whose stem is the next
// member of the bitmap, and the counts must agree. Exits 0 when everything agrees; otherwise prints
// what differed (line numbers and counts, never an NHS number) and exits 1.
package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"strings"

	"github.com/RoaringBitmap/roaring"
)

// checkDigit returns the modulus 11 check digit of a 9-digit stem, or 10 when the stem has none.
func checkDigit(stem uint64) uint64 {
	sum := uint64(0)
	for weight := uint64(2); weight <= 10; weight++ {
		sum += (stem % 10) * weight
		stem /= 10
	}
	check := 11 - sum%11
	if check == 11 {
		return 0
	}
	return check
}

// parseNumber reads a 10-digit NHS number and returns its stem.
func parseNumber(line string) (uint32, error) {
	if len(line) != 10 {
		return 0, fmt.Errorf("%d characters, not 10", len(line))
	}
	value := uint64(0)
	for _, c := range line {
		if c < '0' || c > '9' {
			return 0, fmt.Errorf("not all digits")
		}
		value = value*10 + uint64(c-'0')
	}
	stem := value / 10
	if checkDigit(stem) != value%10 {
		return 0, fmt.Errorf("wrong check digit")
	}
	return uint32(stem), nil
}

func run() error {
	roaringPath := flag.String("roaring", "", "the list exported with --format roaring")
	textPath := flag.String("text", "", "the same list exported with --format text")
	want := flag.String("want-containers", "", "container kinds that must occur: array,bitmap,run")
	flag.Parse()
	if *roaringPath == "" || *textPath == "" || flag.NArg() > 0 {
		return fmt.Errorf("usage: roaring_check -roaring FILE -text FILE [-want-containers array,bitmap,run]")
	}

	data, err := os.ReadFile(*roaringPath)
	if err != nil {
		return err
	}
	bitmap := roaring.New()
	read, err := bitmap.FromBuffer(data)
	if err != nil {
		return fmt.Errorf("%s: Go's Roaring cannot read it: %v", *roaringPath, err)
	}
	if read != int64(len(data)) {
		return fmt.Errorf("%s: Go's Roaring read %d of its %d bytes", *roaringPath, read, len(data))
	}

	text, err := os.Open(*textPath)
	if err != nil {
		return err
	}
	defer text.Close()
	members := bitmap.Iterator()
	scanner := bufio.NewScanner(text)
	lines := uint64(0)
	for scanner.Scan() {
		lines++
		stem, err := parseNumber(scanner.Text())
		if err != nil {
			return fmt.Errorf("%s:%d: %v", *textPath, lines, err)
		}
		if !members.HasNext() {
			return fmt.Errorf("%s:%d: the bitmap has only %d members", *textPath, lines, lines-1)
		}
		if member := members.Next(); member != stem {
			return fmt.Errorf("%s:%d: member %d of the bitmap is not this line's stem", *textPath, lines, lines)
		}
	}
	if err := scanner.Err(); err != nil {
		return err
	}
	if members.HasNext() || bitmap.GetCardinality() != lines {
		return fmt.Errorf("cardinality %d, but %s has %d lines", bitmap.GetCardinality(), *textPath, lines)
	}

	stats := bitmap.Stats()
	found := map[string]uint64{"array": stats.ArrayContainers, "bitmap": stats.BitmapContainers, "run": stats.RunContainers}
	if *want != "" {
		for _, kind := range strings.Split(*want, ",") {
			count, known := found[kind]
			if !known {
				return fmt.Errorf("-want-containers: unknown kind %q", kind)
			}
			if count == 0 {
				return fmt.Errorf("%s: no %s container (array %d, bitmap %d, run %d)", *roaringPath, kind,
					stats.ArrayContainers, stats.BitmapContainers, stats.RunContainers)
			}
		}
	}
	fmt.Printf("%s: %d members agree with %s (containers: %d array, %d bitmap, %d run)\n", *roaringPath,
		lines, *textPath, stats.ArrayContainers, stats.BitmapContainers, stats.RunContainers)
	return nil
}

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "roaring_check:", err)
		os.Exit(1)
	}
}
