import sys

from skyc.cli.main import main

sys.exit(main())
