"""The planner's files and what they resolve to: a single-deployment run config and a fleet file
(`schema`), read strictly (`load`), with their profiles loaded (`resolve`), as one in-memory
`Fleet` (`fleet`): a single deployment is a fleet of one."""
