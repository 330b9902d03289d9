// Command wordcount counts words in text: the classic first streaming job.
//
//	go run ./examples/wordcount               # counts a built-in text
//	go run ./examples/wordcount file.txt dir/ # counts the lines of files
//
// Each line is split into lowercase words, the words are keyed by
// themselves, and a rolling sum per word is printed as it changes.
package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"strings"
	"unicode"

	"github.com/freshet-io/freshet"
	"github.com/freshet-io/freshet/source"
)

// WordCount is a word and how often it has been seen so far.
type WordCount struct {
	Word  string
	Count int
}

func (w WordCount) String() string { return fmt.Sprintf("(%s,%d)", w.Word, w.Count) }

// Count adds the word-count dataflow to lines' environment.
func Count(lines *freshet.Stream[string]) *freshet.Stream[WordCount] {
	words := freshet.FlatMap(lines, func(line string, out freshet.Collector[WordCount]) {
		for _, w := range strings.FieldsFunc(strings.ToLower(line), func(r rune) bool {
			return !unicode.IsLetter(r) && r != '\''
		}) {
			out.Collect(WordCount{Word: w, Count: 1})
		}
	}).Name("Tokenizer")
	byWord := freshet.KeyBy(words, func(w WordCount) string { return w.Word })
	return freshet.Sum(byWord, freshet.FieldOf[WordCount, int]("Count")).Name("Counter")
}

var text = []string{
	"To be, or not to be,--that is the question:--",
	"Whether 'tis nobler in the mind to suffer",
	"The slings and arrows of outrageous fortune",
	"Or to take arms against a sea of troubles,",
	"And by opposing end them?--To die,--to sleep,--",
	"No more; and by a sleep to say we end",
	"The heartache, and the thousand natural shocks",
	"That flesh is heir to,--'tis a consummation",
	"Devoutly to be wish'd.",
}

func run(ctx context.Context, args []string, parallelism int) error {
	env := freshet.NewEnv(freshet.WithParallelism(parallelism))
	var lines *freshet.Stream[string]
	if len(args) > 0 {
		lines = freshet.FromSource(env, source.TextFiles(args...), "Text files")
	} else {
		lines = freshet.FromSlice(env, text)
	}
	Count(lines).Print()
	return env.Execute(ctx, "WordCount")
}

func main() {
	parallelism := flag.Int("parallelism", 2, "parallelism of the job")
	flag.Parse()
	if err := run(context.Background(), flag.Args(), *parallelism); err != nil {
		fmt.Fprintln(os.Stderr, "wordcount:", err)
		os.Exit(1)
	}
}
