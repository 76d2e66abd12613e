import sys

from nhi.cli import main

sys.exit(main())
