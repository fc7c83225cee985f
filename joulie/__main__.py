import sys

from joulie.cli import main

sys.exit(main())
