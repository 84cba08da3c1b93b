from agent.demo import main

raise SystemExit(main())
