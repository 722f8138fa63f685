from realtime.cli import run_cli

run_cli()
