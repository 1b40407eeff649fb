"""The kura subcommands beyond run, tree and sql: one module each, registered by kura/cli.py."""
