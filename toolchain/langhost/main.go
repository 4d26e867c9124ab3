// Stand-in for pulumi-language-nodejs, compiled by toolchain/build.sh (step "langhost").
//
// Why it exists: the upstream host lives in its own Go module
// (github.com/pulumi/pulumi/sdk/nodejs/cmd/pulumi-language-nodejs/v3), which the Go module
// proxy reachable here does not serve at any version, and no other registry ships it.
// This host covers what `pulumi preview/up/destroy/refresh` need from a Node.js language
// host: plugin discovery from node_modules, and Run, which starts @pulumi/pulumi's own
// runner (cmd/run) with the flags and environment that runner documents. Everything else
// (pulumi new/convert/install/about/package) answers Unimplemented.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"github.com/pulumi/pulumi/sdk/v3/go/common/util/rpcutil"
	pulumirpc "github.com/pulumi/pulumi/sdk/v3/proto/go"
	"google.golang.org/grpc"
	"google.golang.org/protobuf/types/known/emptypb"
)

// Set with -ldflags -X; reported through GetPluginInfo.
var version = "0.0.0-dev"

// @pulumi/pulumi's runner exits 32 after it has already shown the user an error.
const bailExitCode = 32

type host struct {
	pulumirpc.UnimplementedLanguageRuntimeServer
	engine string
}

func main() {
	// The engine starts language plugins as: [--logtostderr] [-v=N] [--tracing URL] ENGINE_ADDR
	var h host
	args := os.Args[1:]
	for i := 0; i < len(args); i++ {
		switch a := args[i]; {
		case a == "--tracing" || a == "-tracing":
			i++
		case strings.HasPrefix(a, "-"):
		default:
			if h.engine == "" {
				h.engine = a
			}
		}
	}
	handle, err := rpcutil.ServeWithOptions(rpcutil.ServeOptions{
		Init: func(s *grpc.Server) error {
			pulumirpc.RegisterLanguageRuntimeServer(s, &h)
			return nil
		},
	})
	if err != nil {
		fmt.Fprintf(os.Stderr, "language host: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("%d\n", handle.Port) // the engine reads the port from our first stdout line
	if err := <-handle.Done; err != nil {
		fmt.Fprintf(os.Stderr, "language host: %v\n", err)
		os.Exit(1)
	}
}

func (h *host) GetPluginInfo(context.Context, *emptypb.Empty) (*pulumirpc.PluginInfo, error) {
	return &pulumirpc.PluginInfo{Version: version}, nil
}

func (h *host) GetRequiredPackages(_ context.Context, req *pulumirpc.GetRequiredPackagesRequest,
) (*pulumirpc.GetRequiredPackagesResponse, error) {
	deps, err := providerPackages(req.GetInfo().GetProgramDirectory())
	if err != nil {
		return nil, err
	}
	var pkgs []*pulumirpc.PackageDependency
	for _, d := range deps {
		pkgs = append(pkgs, &pulumirpc.PackageDependency{
			Kind: "resource", Name: d.Name, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPackagesResponse{Packages: pkgs}, nil
}

func (h *host) GetRequiredPlugins(_ context.Context, req *pulumirpc.GetRequiredPluginsRequest,
) (*pulumirpc.GetRequiredPluginsResponse, error) {
	deps, err := providerPackages(req.GetInfo().GetProgramDirectory())
	if err != nil {
		return nil, err
	}
	var plugins []*pulumirpc.PluginDependency
	for _, d := range deps {
		plugins = append(plugins, &pulumirpc.PluginDependency{
			Kind: "resource", Name: d.Name, Version: d.Version, Server: d.Server,
		})
	}
	return &pulumirpc.GetRequiredPluginsResponse{Plugins: plugins}, nil
}

type providerDep struct{ Name, Version, Server string }

// providerPackages finds npm packages that declare a Pulumi resource plugin
// ("pulumi": {"resource": true, ...} in package.json) in the nearest node_modules,
// following nested node_modules; one entry per name@version.
func providerPackages(dir string) ([]providerDep, error) {
	root, err := nodeModulesOf(dir)
	if err != nil || root == "" {
		return nil, err
	}
	seen := map[providerDep]bool{}
	var out []providerDep
	var walk func(nm string) error
	walk = func(nm string) error {
		entries, err := os.ReadDir(nm)
		if err != nil {
			return nil // unreadable or vanished dirs are not our problem here
		}
		for _, e := range entries {
			names := []string{filepath.Join(nm, e.Name())}
			if strings.HasPrefix(e.Name(), "@") { // scope dir: packages are one level down
				scoped, _ := os.ReadDir(names[0])
				names = names[:0]
				for _, s := range scoped {
					names = append(names, filepath.Join(nm, e.Name(), s.Name()))
				}
			}
			for _, pkg := range names {
				if d, ok := readProviderDep(filepath.Join(pkg, "package.json")); ok && !seen[d] {
					seen[d] = true
					out = append(out, d)
				}
				if err := walk(filepath.Join(pkg, "node_modules")); err != nil {
					return err
				}
			}
		}
		return nil
	}
	return out, walk(root)
}

func nodeModulesOf(dir string) (string, error) {
	dir, err := filepath.Abs(dir)
	if err != nil {
		return "", err
	}
	for {
		nm := filepath.Join(dir, "node_modules")
		if st, err := os.Stat(nm); err == nil && st.IsDir() {
			return nm, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", nil
		}
		dir = parent
	}
}

func readProviderDep(path string) (providerDep, bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return providerDep{}, false
	}
	var pj struct {
		Name    string `json:"name"`
		Version string `json:"version"`
		Pulumi  struct {
			Resource bool   `json:"resource"`
			Name     string `json:"name"`
			Version  string `json:"version"`
			Server   string `json:"server"`
		} `json:"pulumi"`
	}
	if json.Unmarshal(b, &pj) != nil || !pj.Pulumi.Resource {
		return providerDep{}, false
	}
	d := providerDep{Name: pj.Pulumi.Name, Version: pj.Pulumi.Version, Server: pj.Pulumi.Server}
	if d.Name == "" { // old packages: derive from the npm name, e.g. @pulumi/random -> random
		d.Name = strings.TrimPrefix(pj.Name[strings.LastIndex(pj.Name, "/")+1:], "@")
	}
	if d.Version == "" {
		d.Version = pj.Version
	}
	if d.Version != "" && !strings.HasPrefix(d.Version, "v") {
		d.Version = "v" + d.Version
	}
	return d, true
}

func (h *host) Run(ctx context.Context, req *pulumirpc.RunRequest) (*pulumirpc.RunResponse, error) {
	info := req.GetInfo()
	pwd := req.GetPwd()
	if pwd == "" {
		pwd = info.GetProgramDirectory()
	}
	opts := info.GetOptions().AsMap()

	node, err := exec.LookPath("node")
	if err != nil {
		return nil, fmt.Errorf("could not find node on the $PATH: %w", err)
	}
	// Resolve the runner the way Node would from the program, so the program's own
	// @pulumi/pulumi copy runs it.
	resolve := exec.CommandContext(ctx, node, "-e",
		"process.stdout.write(require.resolve('@pulumi/pulumi/cmd/run'))")
	resolve.Dir = pwd
	out, err := resolve.Output()
	if err != nil {
		return &pulumirpc.RunResponse{Error: "It looks like the Pulumi SDK has not been installed. " +
			"Have you run npm install? (require.resolve('@pulumi/pulumi/cmd/run') failed)"}, nil
	}
	runPath := string(out)

	var args []string
	if nodeargs, _ := opts["nodeargs"].(string); nodeargs != "" {
		args = append(args, strings.Fields(nodeargs)...)
	}
	args = append(args, runPath)
	flag := func(k, v string) {
		if v != "" {
			args = append(args, "--"+k, v)
		}
	}
	flag("monitor", req.GetMonitorAddress())
	flag("engine", h.engine)
	flag("organization", req.GetOrganization())
	flag("project", req.GetProject())
	flag("root-directory", info.GetRootDirectory())
	flag("stack", req.GetStack())
	flag("pwd", pwd)
	if req.GetDryRun() {
		args = append(args, "--dry-run")
	}
	flag("parallel", strconv.Itoa(int(req.GetParallel())))
	program := req.GetProgram()
	if program == "" {
		program = "."
	}
	args = append(args, program)
	args = append(args, req.GetArgs()...)

	config, err := json.Marshal(req.GetConfig())
	if err != nil {
		return nil, err
	}
	secretKeys := req.GetConfigSecretKeys()
	if secretKeys == nil {
		secretKeys = []string{}
	}
	secretJSON, err := json.Marshal(secretKeys)
	if err != nil {
		return nil, err
	}
	env := append(os.Environ(), "PULUMI_CONFIG="+string(config), "PULUMI_CONFIG_SECRET_KEYS="+string(secretJSON))
	// Pulumi.yaml runtime.options.typescript defaults to true, as upstream.
	if ts, ok := opts["typescript"].(bool); !ok || ts {
		env = append(env, "PULUMI_NODEJS_TYPESCRIPT=true")
	}
	if tsconfig, _ := opts["tsconfig"].(string); tsconfig != "" {
		env = append(env, "PULUMI_NODEJS_TSCONFIG_PATH="+tsconfig)
	}

	cmd := exec.Command(node, args...)
	cmd.Dir = pwd
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = os.Stdout, os.Stderr
	if err := cmd.Run(); err != nil {
		var exitErr *exec.ExitError
		switch {
		case errors.As(err, &exitErr) && exitErr.ExitCode() == bailExitCode:
			return &pulumirpc.RunResponse{Bail: true}, nil
		case errors.As(err, &exitErr):
			return &pulumirpc.RunResponse{
				Error: fmt.Sprintf("Program exited with non-zero exit code: %d", exitErr.ExitCode()),
			}, nil
		default:
			return &pulumirpc.RunResponse{Error: fmt.Sprintf("could not run node: %v", err)}, nil
		}
	}
	return &pulumirpc.RunResponse{}, nil
}
