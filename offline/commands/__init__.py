"""The command layer: click commands that parse options, check inputs and outputs, call the
library (``offline.<technique>``) and print. Library modules know nothing of click."""
