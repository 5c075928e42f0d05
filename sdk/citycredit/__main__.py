import sys

from citycredit._cli.main import main

sys.exit(main())
