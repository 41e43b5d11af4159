#include <stdio.h>
int main(void) { puts("kube-eventer skeleton"); return 0; }
