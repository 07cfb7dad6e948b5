from pm_actors.cli import main

raise SystemExit(main())
