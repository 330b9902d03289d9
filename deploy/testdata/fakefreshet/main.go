// Command fakefreshet stands in for freshet in the tests of
// scripts/compose.sh, in an image built like freshet's: "jobmanager"
// serves /overview and /taskmanagers on port 8081 and keeps every
// TaskManager that registered, "taskmanager" registers with it under its
// host name and waits for a signal, and "overview" prints the count as
// `freshet overview --output json` does. Each checks the arguments the
// script gives freshet and exits 1 with a message if they are wrong.
package main

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"slices"
	"strings"
	"sync"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fail("no command")
	}
	switch args := os.Args[2:]; os.Args[1] {
	case "jobmanager":
		jobManager(args)
	case "taskmanager":
		taskManager(args)
	case "overview":
		overview(args)
	default:
		fail("unknown command %q", os.Args[1])
	}
}

func fail(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "fakefreshet: "+format+"\n", args...)
	os.Exit(1)
}

func hostname() string {
	h, err := os.Hostname()
	if err != nil {
		fail("%v", err)
	}
	return h
}

func jobManager(args []string) {
	if want := []string{"-D", "jobmanager.rpc.address=" + hostname()}; !slices.Equal(args, want) {
		fail("jobmanager %q, want %q", args, want)
	}
	var mu sync.Mutex
	tms := map[string]string{} // host name → slots
	http.HandleFunc("POST /register", func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		tms[r.FormValue("id")] = r.FormValue("slots")
		mu.Unlock()
	})
	http.HandleFunc("GET /overview", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		n := len(tms)
		mu.Unlock()
		b, _ := json.MarshalIndent(map[string]int{"taskmanagers": n}, "", "  ")
		w.Write(b)
	})
	http.HandleFunc("GET /taskmanagers", func(w http.ResponseWriter, _ *http.Request) {
		mu.Lock()
		var out []string
		for id, slots := range tms {
			out = append(out, id+" "+slots)
		}
		mu.Unlock()
		slices.Sort(out)
		fmt.Fprint(w, strings.Join(out, "\n"))
	})
	fail("%v", http.ListenAndServe(":8081", nil))
}

func taskManager(args []string) {
	if len(args) != 8 || args[0] != "--jobmanager" || args[2] != "--slots" ||
		!slices.Equal(args[4:], []string{"--host", hostname(), "--id", hostname()}) {
		fail("taskmanager %q, want --jobmanager HOST:PORT --slots N --host %[2]s --id %[2]s", args, hostname())
	}
	host, port, err := net.SplitHostPort(args[1])
	if err != nil || port != "6123" {
		fail("--jobmanager %q, want HOST:6123", args[1])
	}
	if args[3] == "13" {
		fail("refusing %s slots", args[3])
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	url := fmt.Sprintf("http://%s/register?id=%s&slots=%s", net.JoinHostPort(host, "8081"), hostname(), args[3])
	for {
		resp, err := http.Post(url, "", nil)
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		select {
		case <-ctx.Done():
			return
		case <-time.After(100 * time.Millisecond):
		}
	}
	<-ctx.Done()
}

func overview(args []string) {
	if len(args) != 4 || args[0] != "--address" || args[2] != "--output" || args[3] != "json" {
		fail("overview %q, want --address URL --output json", args)
	}
	resp, err := http.Get(args[1] + "/overview")
	if err != nil {
		fmt.Fprintln(os.Stderr, "fakefreshet:", err)
		os.Exit(3)
	}
	defer resp.Body.Close()
	io.Copy(os.Stdout, resp.Body)
}
