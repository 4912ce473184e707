import sys

from speech_lstm.cli import main

sys.exit(main())
