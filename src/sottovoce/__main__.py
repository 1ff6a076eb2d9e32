"""``python -m sottovoce``: the same as the ``sotto`` command."""

from sottovoce.cli.main import main

raise SystemExit(main())
