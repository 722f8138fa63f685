from offline.cli import run

run()
