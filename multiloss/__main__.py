import sys

from multiloss.cli import main

sys.exit(main())
