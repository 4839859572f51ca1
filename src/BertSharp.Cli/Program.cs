using BertSharp.Cli;

// Entry point: each command lives in its own file under Commands/ and is registered in CommandRegistry.
// Ctrl+C (or SIGTERM) cancels the running command, which finishes its current step and saves; a second
// Ctrl+C ends the process at once.
using var cancel = new CancellationTokenSource();
Console.CancelKeyPress += (_, e) =>
{
    if (cancel.IsCancellationRequested) return; // second press: let the runtime end the process
    e.Cancel = true;
    cancel.Cancel();
};
using var sigterm = System.Runtime.InteropServices.PosixSignalRegistration.Create(System.Runtime.InteropServices.PosixSignal.SIGTERM, c =>
{
    c.Cancel = true;
    cancel.Cancel();
});
return await CliRunner.RunAsync(CliRunner.CreateRoot(), args, cancel: cancel.Token);
