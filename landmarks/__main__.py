from landmarks.cli import main

raise SystemExit(main())
