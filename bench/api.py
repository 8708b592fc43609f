"""The API benchmarks, runnable from a checkout: the same as ``spotlab bench api``.

python bench/api.py --parts rest --rounds 1 --seconds 5      # options as for `spotlab bench api --help`
"""

import sys

from spotlab.cli import main

if __name__ == "__main__":
    sys.argv = ["spotlab", "bench", "api", *sys.argv[1:]]
    main()
