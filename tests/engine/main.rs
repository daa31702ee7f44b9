mod cli;
mod grammar;
mod oracle;
mod queries;
