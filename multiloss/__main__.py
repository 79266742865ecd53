import sys

from multiloss.verify.cli import main

sys.exit(main())
