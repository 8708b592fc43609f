"""The engine benchmark, runnable from a checkout: the same as ``spotlab bench engine``.

python bench/engine.py --commands 100000          # options as for `spotlab bench engine --help`
"""

import sys

from spotlab.cli import main

if __name__ == "__main__":
    sys.argv = ["spotlab", "bench", "engine", *sys.argv[1:]]
    main()
