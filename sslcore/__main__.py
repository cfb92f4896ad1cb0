import sys

from sslcore.cli import main

sys.exit(main())
