using Kheish.Daemon.Cli;

return await KheishCli.RunAsync(args).ConfigureAwait(false);
