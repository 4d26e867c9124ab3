// Package local is the stand-in for pulumi-command's command:local:Command, compiled by
// toolchain/build.sh (step "command"); see toolchain/command/main.go for why it exists.
// It implements the documented behaviour of local.Command for what this project uses:
// create/update/delete commands run through an interpreter, environment, dir, stdin,
// triggers (replace on change), logging, addPreviousOutputInEnv, stdout/stderr outputs.
// assetPaths/archivePaths are accepted but not collected (assets/archive stay empty).
package local

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"os"
	"os/exec"
	"strings"

	p "github.com/pulumi/pulumi-go-provider"
	"github.com/pulumi/pulumi-go-provider/infer"
)

type Command struct{}

type CommandArgs struct {
	Create                 *string           `pulumi:"create,optional"`
	Update                 *string           `pulumi:"update,optional"`
	Delete                 *string           `pulumi:"delete,optional"`
	Dir                    *string           `pulumi:"dir,optional"`
	Environment            map[string]string `pulumi:"environment,optional"`
	Interpreter            []string          `pulumi:"interpreter,optional"`
	Stdin                  *string           `pulumi:"stdin,optional"`
	Triggers               []any             `pulumi:"triggers,optional" provider:"replaceOnChanges"`
	Logging                *string           `pulumi:"logging,optional"`
	AddPreviousOutputInEnv *bool             `pulumi:"addPreviousOutputInEnv,optional"`
	AssetPaths             []string          `pulumi:"assetPaths,optional"`
	ArchivePaths           []string          `pulumi:"archivePaths,optional"`
}

type CommandState struct {
	CommandArgs
	Stdout string `pulumi:"stdout"`
	Stderr string `pulumi:"stderr"`
}

func (Command) Create(ctx context.Context, req infer.CreateRequest[CommandArgs],
) (infer.CreateResponse[CommandState], error) {
	state := CommandState{CommandArgs: req.Inputs}
	id := req.Name
	if req.DryRun || req.Inputs.Create == nil {
		return infer.CreateResponse[CommandState]{ID: id, Output: state}, nil
	}
	var err error
	state.Stdout, state.Stderr, err = run(ctx, *req.Inputs.Create, req.Inputs, nil)
	return infer.CreateResponse[CommandState]{ID: id, Output: state}, err
}

func (Command) Update(ctx context.Context, req infer.UpdateRequest[CommandArgs, CommandState],
) (infer.UpdateResponse[CommandState], error) {
	state := CommandState{CommandArgs: req.Inputs, Stdout: req.State.Stdout, Stderr: req.State.Stderr}
	cmd := req.Inputs.Update // without an update command, create runs again
	if cmd == nil {
		cmd = req.Inputs.Create
	}
	if req.DryRun || cmd == nil {
		return infer.UpdateResponse[CommandState]{Output: state}, nil
	}
	var err error
	state.Stdout, state.Stderr, err = run(ctx, *cmd, req.Inputs, &req.State)
	return infer.UpdateResponse[CommandState]{Output: state}, err
}

func (Command) Delete(ctx context.Context, req infer.DeleteRequest[CommandState]) (infer.DeleteResponse, error) {
	if req.State.Delete == nil {
		return infer.DeleteResponse{}, nil
	}
	_, _, err := run(ctx, *req.State.Delete, req.State.CommandArgs, &req.State)
	return infer.DeleteResponse{}, err
}

func run(ctx context.Context, command string, in CommandArgs, prev *CommandState) (string, string, error) {
	interp := in.Interpreter
	if len(interp) == 0 {
		interp = []string{"/bin/sh", "-c"}
	}
	cmd := exec.CommandContext(ctx, interp[0], append(append([]string{}, interp[1:]...), command)...)
	cmd.Env = os.Environ()
	if prev != nil && (in.AddPreviousOutputInEnv == nil || *in.AddPreviousOutputInEnv) {
		cmd.Env = append(cmd.Env, "PULUMI_COMMAND_STDOUT="+prev.Stdout, "PULUMI_COMMAND_STDERR="+prev.Stderr)
	}
	for k, v := range in.Environment {
		cmd.Env = append(cmd.Env, k+"="+v)
	}
	if in.Dir != nil {
		cmd.Dir = *in.Dir
	}
	if in.Stdin != nil {
		cmd.Stdin = strings.NewReader(*in.Stdin)
	}
	logging := "stdoutAndStderr"
	if in.Logging != nil {
		logging = *in.Logging
	}
	var stdout, stderr bytes.Buffer
	log := p.GetLogger(ctx)
	cmd.Stdout = tee(&stdout, logging == "stdout" || logging == "stdoutAndStderr", log.InfoStatus)
	cmd.Stderr = tee(&stderr, logging == "stderr" || logging == "stdoutAndStderr", log.InfoStatus)
	err := cmd.Run()
	out := strings.TrimSuffix(stdout.String(), "\n")
	errOut := strings.TrimSuffix(stderr.String(), "\n")
	if err != nil {
		return out, errOut, fmt.Errorf("%w: running %q:\n%s", err, command, errOut)
	}
	return out, errOut, nil
}

// tee keeps a command's output and, when logging is on for that stream, shows each
// line in the Pulumi output as it arrives.
func tee(buf *bytes.Buffer, show bool, logf func(string)) io.Writer {
	if !show {
		return buf
	}
	return io.MultiWriter(buf, &lineLogger{log: logf})
}

type lineLogger struct {
	log     func(string)
	pending []byte
}

func (l *lineLogger) Write(b []byte) (int, error) {
	l.pending = append(l.pending, b...)
	for {
		i := bytes.IndexByte(l.pending, '\n')
		if i < 0 {
			return len(b), nil
		}
		l.log(string(l.pending[:i]))
		l.pending = l.pending[i+1:]
	}
}
