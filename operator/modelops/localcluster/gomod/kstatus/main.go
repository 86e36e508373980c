// Command kstatus prints the kstatus verdict (the health that Flux, kpt and cli-utils
// compute) of each Kubernetes object read as JSON from stdin, one JSON result per line:
// {"status": "InProgress|Current|Failed|...", "message": "..."}.
// modelops's tests use it to check ModelDeployment health with the real library.
package main

import (
	"encoding/json"
	"fmt"
	"io"
	"os"

	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"sigs.k8s.io/cli-utils/pkg/kstatus/status"
)

type verdict struct {
	Status  string `json:"status"`
	Message string `json:"message"`
}

func main() {
	decoder := json.NewDecoder(os.Stdin)
	encoder := json.NewEncoder(os.Stdout)
	for {
		var raw json.RawMessage
		if err := decoder.Decode(&raw); err == io.EOF {
			return
		} else if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: reading an object:", err)
			os.Exit(2)
		}
		// Unstructured's own decoder keeps integers as int64, as the API machinery expects.
		object := &unstructured.Unstructured{}
		if err := object.UnmarshalJSON(raw); err != nil {
			fmt.Fprintln(os.Stderr, "kstatus: not a Kubernetes object:", err)
			os.Exit(2)
		}
		result, err := status.Compute(object)
		if err != nil {
			fmt.Fprintln(os.Stderr, "kstatus:", err)
			os.Exit(1)
		}
		if err := encoder.Encode(verdict{Status: result.Status.String(), Message: result.Message}); err != nil {
			os.Exit(2)
		}
	}
}
