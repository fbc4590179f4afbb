import sys

from talkbox.app.cli import main

sys.exit(main())
