"""The helpers the course's notebooks share. Each module's docstring names the lesson that
introduces it.

    helpers/          the core: config, errors, waiting, amqp, management, metrics, charts, lesson
    helpers/checks/   the exercise checks (each reads the broker, never a typed-in value)
    helpers/lab/      the lessons' props: worker pool and worker, rpc, routing, dead letters, ...
    helpers/ops/      the services from the command line: broker, prometheus, tls_node, processes

Importing any of them changes nothing: no settings are read, no folder is made, no global
style is set until a function is called (``start_lesson()`` sets the charts' style).
"""
