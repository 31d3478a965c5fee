import sys

from speaker.cli import main

sys.exit(main())
