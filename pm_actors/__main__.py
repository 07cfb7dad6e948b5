from pm_actors.app.cli import main

raise SystemExit(main())
