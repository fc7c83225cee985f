import sys

from joulie.kubectl.cli import main

sys.exit(main())
